"""Input validation (and OpenAPI shapes) for the identity and tenancy API."""
from rest_framework import serializers

from saas.tenancy.context import TENANT_ID_PATTERN

from .models import ROLES, TENANT_STATUSES, TIERS


class ActiveTenantSerializer(serializers.Serializer):
    tenant_id = serializers.RegexField(TENANT_ID_PATTERN, max_length=63)


class TenantCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, trim_whitespace=True)
    tier = serializers.ChoiceField(choices=TIERS)


class TenantUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, trim_whitespace=True)


class TenantTierSerializer(serializers.Serializer):
    tier = serializers.ChoiceField(choices=TIERS)


class MemberInviteSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=ROLES)


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)


class ListParamsSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    cursor = serializers.CharField(required=False, allow_blank=False, max_length=4096)


# --- response shapes (documentation) --------------------------------------------------------------
class TenantSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    tier = serializers.ChoiceField(choices=TIERS)
    status = serializers.ChoiceField(choices=TENANT_STATUSES)
    deployment = serializers.ChoiceField(choices=("pooled", "silo"))
    created_at = serializers.CharField()
    updated_at = serializers.CharField()
    version = serializers.IntegerField()


class AdminTenantSerializer(TenantSerializer):
    failure_reason = serializers.CharField(allow_null=True)
    created_by = serializers.CharField(allow_null=True)
    owner_email = serializers.CharField(allow_null=True)
    status_changed_at = serializers.CharField(allow_null=True)


class MemberSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    email = serializers.CharField()
    role = serializers.ChoiceField(choices=ROLES)
    invited_by = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()
    updated_at = serializers.CharField()
    version = serializers.IntegerField()


class MemberPageSerializer(serializers.Serializer):
    results = MemberSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class AdminTenantPageSerializer(serializers.Serializer):
    results = AdminTenantSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class TenantSummarySerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    tier = serializers.CharField()
    status = serializers.CharField()


class ActiveTenantInfoSerializer(TenantSummarySerializer):
    roles = serializers.ListField(child=serializers.CharField())


class MembershipInfoSerializer(serializers.Serializer):
    tenant = TenantSummarySerializer()
    role = serializers.CharField()


class PendingTenantSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    tier = serializers.ChoiceField(choices=TIERS)
    status = serializers.ChoiceField(choices=("provisioning", "failed"))
    failure_reason = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()


class MeUserSerializer(serializers.Serializer):
    id = serializers.CharField()
    email = serializers.CharField()
    system_admin = serializers.BooleanField()


class MeSerializer(serializers.Serializer):
    user = MeUserSerializer()
    active_tenant = ActiveTenantInfoSerializer(allow_null=True)
    memberships = MembershipInfoSerializer(many=True)
    pending_tenants = PendingTenantSerializer(many=True)
