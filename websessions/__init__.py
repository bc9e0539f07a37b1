"""The browser's session (a feature home outside the kernel): server-side sessions in DynamoDB
(``backend``, Django's ``SESSION_ENGINE``) and what someone typed when theirs had ended
(``kept_forms``, with ``static/saas/kept-form.js``). The page decorator (``tenants.web``) uses both."""
