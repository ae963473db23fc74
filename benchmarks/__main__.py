import sys

from benchmarks.main import main

sys.exit(main())
