#!/usr/bin/env python3
"""Django's command line for the bridge demo. Run it with Debian's interpreter (/usr/bin/python3,
where python3-django 3.2 lives); start.ts passes BRIDGE_SECRET_KEY and BRIDGE_DB."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoapp.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
