import sys

from build.py27 import main

sys.exit(main())
