"""Email: django-ses on our SES client, and the address links in emails are built on."""
from __future__ import annotations

from saas.settings.environment import env

# Email (saas.mail): django-ses on our SES client, always sent from the ``mail.send`` job.
MAIL_BACKEND = env("MAIL_BACKEND", "saas.mail_backend.SESBackend")
# No django-ses self-throttling (it reads GetSendQuota before sending): one message per job, and a
# throttled send fails the job, which Celery retries with backoff.
AWS_SES_AUTO_THROTTLE = None
EMAIL_BACKEND = MAIL_BACKEND
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "no-reply@saas-commerce.example")
# The address people open the web app at: links in emails are built on it.
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
