"""`make bench`: every benchmark in one run (about 25 minutes; `--quick` about 12), printing
the Markdown for docs/benchmarks.md.

python -m bench.run_all [--quick]
"""

from __future__ import annotations

import subprocess
import sys


def main() -> None:
    quick = ["--quick"] if "--quick" in sys.argv[1:] else []
    runs = (
        ("bench.micro", []),
        ("bench.edge_bench", quick),
        ("bench.routing_bench", []),
        ("bench.admission_bench", quick),
        ("bench.agent_bench", quick),
        ("bench.backchannel_bench", quick),
        ("bench.web_bench", ["--requests", "50" if quick else "200"]),
        ("bench.live_delay", ["--calls", "5" if quick else "20"]),
        ("bench.livekit_bench", ["--calls", "100" if quick else "300"]),
        ("bench.security_headers", ["--requests", "2000" if quick else "20000"]),
        ("bench.outbox_bench", ["--calls", "20" if quick else "100"]),
        ("bench.recording_bench", quick),
        ("bench.tryit_bench", ["--rounds", "2" if quick else "5"]),
        ("bench.codec_bench", []),
        ("bench.kb_bench", []),
        ("bench.turn_bench", []),
        ("bench.org_settings_bench", ["--requests", "50" if quick else "200"]),
        ("bench.tickets_bench", ["--requests", "50" if quick else "200"]),
    )
    for module, args in runs:
        subprocess.run([sys.executable, "-m", module, *args], check=True)


if __name__ == "__main__":
    main()
