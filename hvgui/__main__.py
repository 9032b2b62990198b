"""`python -m hvgui` starts the app, like the `hvgui` command."""

import sys

from hvgui.app import main

sys.exit(main())
