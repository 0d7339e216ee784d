"""Benchmarks: ``python -m bench <name> --json``. Each prints one JSON object on stdout and a readable summary on
stderr. Results and the machine they ran on are recorded in docs/benchmarks.md."""
