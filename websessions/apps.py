from django.apps import AppConfig


class WebSessionsConfig(AppConfig):
    """Installed for its static file (``saas/kept-form.js``, same URL as before)."""

    name = "websessions"
