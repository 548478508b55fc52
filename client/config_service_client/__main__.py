"""Run the command line: `python -m config_service_client`."""

from __future__ import annotations

import sys

from config_service_client.cli import main

sys.exit(main())
