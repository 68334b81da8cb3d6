"""`python -m benchmark` is `mgbench`."""
import signal
import sys

if __name__ == "__main__":
    try:
        from benchmark.cli import main
    except KeyboardInterrupt:  # Ctrl-C while the package is still being imported
        print("mgbench: interrupted (SIGINT) before anything started", file=sys.stderr)
        sys.exit(128 + signal.SIGINT)
    sys.exit(main())
