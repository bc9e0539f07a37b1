"""The Celery app. Tenant propagation (headers at publish, context in the worker) lives in
``saas.tenancy.jobs`` and is connected through Celery's own signals."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings")

app = Celery("saas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
