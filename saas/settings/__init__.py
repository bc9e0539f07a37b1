"""Settings. Everything comes from environment variables; defaults are for the local stack.

In AWS (Zappa stages) the endpoint variables are unset, so boto3 talks to the real services.
Any variable may hold a reference instead of a value, ``ssm:/path/name`` or
``secretsmanager:name#json-key``: they are resolved once per process start (saas.settings.environment, saas.config).
Missing configuration is reported by the ``saas.E00x`` system checks (saas.checks).

The settings are composed here of one module per integration (Django itself, deployment, AWS, the
store and cache, files, the web app, identity, the tenant lifecycle, the API, throttles and limits,
jobs, events, mail, orders, audit, exports, logging); a module that reads another's setting
imports it from there. ``DJANGO_SETTINGS_MODULE=saas.settings`` everywhere.
"""
from saas.settings.api import *  # noqa: F403
from saas.settings.audit import *  # noqa: F403
from saas.settings.aws import *  # noqa: F403
from saas.settings.base import *  # noqa: F403
from saas.settings.deployment import *  # noqa: F403
from saas.settings.events import *  # noqa: F403
from saas.settings.exports import *  # noqa: F403
from saas.settings.files import *  # noqa: F403
from saas.settings.identity import *  # noqa: F403
from saas.settings.jobs import *  # noqa: F403
from saas.settings.logs import *  # noqa: F403
from saas.settings.mail import *  # noqa: F403
from saas.settings.orders import *  # noqa: F403
from saas.settings.storage import *  # noqa: F403
from saas.settings.tenants import *  # noqa: F403
from saas.settings.throttles import *  # noqa: F403
from saas.settings.web import *  # noqa: F403
