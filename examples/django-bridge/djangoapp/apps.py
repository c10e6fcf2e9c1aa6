"""The demo app. After `manage.py migrate` it makes sure the demo user exists (username "ada",
password "lovelace"), so one command prepares a fresh database."""
from django.apps import AppConfig
from django.db.models.signals import post_migrate

DEMO_USER = "ada"
DEMO_PASSWORD = "lovelace"


def create_demo_user(sender, **kwargs):
    from django.contrib.auth.models import User

    if not User.objects.filter(username=DEMO_USER).exists():
        User.objects.create_user(DEMO_USER, password=DEMO_PASSWORD)


class BridgeConfig(AppConfig):
    name = "djangoapp"

    def ready(self):
        # Sent once per migrated app; auth's comes after every migration ran, so auth_user exists.
        post_migrate.connect(create_demo_user, sender=self.apps.get_app_config("auth"))
