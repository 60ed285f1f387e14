"""`make bench`: every benchmark in one run, printing the Markdown for docs/benchmarks.md.

python -m bench.run_all [--quick]
"""

from __future__ import annotations

import subprocess
import sys


def main() -> None:
    quick = ["--quick"] if "--quick" in sys.argv[1:] else []
    for module, args in (("bench.micro", []), ("bench.edge_bench", quick)):
        subprocess.run([sys.executable, "-m", module, *args], check=True)


if __name__ == "__main__":
    main()
