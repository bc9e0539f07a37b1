from rest_framework import serializers

from saas.tenancy.context import TENANT_ID_PATTERN


class ActiveTenantSerializer(serializers.Serializer):
    tenant_id = serializers.RegexField(TENANT_ID_PATTERN, max_length=63)
