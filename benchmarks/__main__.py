"""`python -m benchmarks [options]` measures (benchmarks/runner.py); `python -m benchmarks report --out DIR`
regenerates RESULTS.md and plots from committed files without measuring anything (benchmarks/report.py)."""

import sys

if len(sys.argv) > 1 and sys.argv[1] == "report":
    from benchmarks.report import main as report_main

    sys.exit(report_main(sys.argv[2:]))

from benchmarks.runner import main

sys.exit(main())
