"""The email backend (``MAIL_BACKEND``): django-ses's, on our boto3 client. Its own module so that
only sending mail (``saas.mail.send_now``, in the worker) imports django-ses."""
from __future__ import annotations

from django_ses import SESBackend as _DjangoSesBackend

from saas import aws


class SESBackend(_DjangoSesBackend):
    """django-ses's backend on our boto3 client (endpoint, region, timeouts from settings)."""

    def open(self):
        if self.connection:
            return False
        self.connection = aws.client("ses")
        return True
