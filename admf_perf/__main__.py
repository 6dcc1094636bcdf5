"""``python -m admf_perf`` runs the ``admf-perf`` command line."""

from admf_perf.cli import main

if __name__ == "__main__":
    main()
