"""Input validation (and OpenAPI shapes) for the identity and tenancy API."""
from datetime import timezone

from rest_framework import serializers

from saas.serializers import QuerySerializer, StrictCharField
from saas.tenancy.context import ROLES, TENANT_ID_PATTERN

from .models import TENANT_STATUSES, TIERS


class ActiveTenantSerializer(serializers.Serializer):
    tenant_id = serializers.RegexField(TENANT_ID_PATTERN, max_length=63)


class TenantCreateSerializer(serializers.Serializer):
    # A JSON string only: {"name": 0} is refused, not stored as "0" (as products do).
    name = StrictCharField(min_length=1, max_length=100, trim_whitespace=True)
    tier = serializers.ChoiceField(choices=TIERS)


class TenantUpdateSerializer(serializers.Serializer):
    name = StrictCharField(min_length=1, max_length=100, trim_whitespace=True)


class TenantTierSerializer(serializers.Serializer):
    tier = serializers.ChoiceField(choices=TIERS)


class MemberInviteSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=ROLES)


class InvitationSerializer(serializers.Serializer):
    id = serializers.CharField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=ROLES)
    status = serializers.CharField()
    invited_by = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()
    expires_at = serializers.IntegerField()


class InvitationTenantSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class MyInvitationSerializer(serializers.Serializer):
    id = serializers.CharField()
    tenant = InvitationTenantSerializer()
    role = serializers.ChoiceField(choices=ROLES)
    expires_at = serializers.IntegerField()


class MyInvitationPageSerializer(serializers.Serializer):
    results = MyInvitationSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Always null: every pending invitation is listed.")


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)


class ListParamsSerializer(QuerySerializer):
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


class InvitationPageSerializer(serializers.Serializer):
    results = InvitationSerializer(many=True)
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
    status = serializers.ChoiceField(choices=("pending_approval", "provisioning", "failed", "rejected"),
                                     help_text="pending_approval: waits for a platform admin; provisioning: its "
                                               "table is being made; failed / rejected: it will not be made.")
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


# --- audit trail ---------------------------------------------------------------------------------
class AuditQuerySerializer(ListParamsSerializer):
    """Filters of an audit trail list: all optional, combined with AND. ``action`` may end in ``*``
    (prefix, e.g. ``product.*``); ``since``/``until`` are ISO-8601 UTC times (``until`` exclusive)."""

    actor = serializers.CharField(max_length=320, required=False)
    action = serializers.RegexField(r"^[a-z_]+(\.[a-z_*]+)*\*?$", max_length=80, required=False)
    target_type = serializers.RegexField(r"^[a-z_]+$", max_length=40, required=False)
    target_id = serializers.CharField(max_length=200, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        for name in ("since", "until"):
            if name in attrs:
                attrs[name] = attrs[name].astimezone(timezone.utc).isoformat(timespec="milliseconds").replace(
                    "+00:00", "Z")
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["Must be after since."]})
        return attrs


class AuditRecordSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    at = serializers.CharField()
    actor_type = serializers.ChoiceField(choices=["user", "job", "system"])
    actor_id = serializers.CharField()
    actor_email = serializers.CharField(allow_null=True)
    actor_detail = serializers.DictField(allow_null=True)
    action = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    changes = serializers.DictField(allow_null=True, help_text="{field: [before, after]}")
    request_id = serializers.CharField(allow_null=True)
    source_ip = serializers.CharField(allow_null=True)
    tenant_id = serializers.CharField(allow_null=True)
    hash = serializers.CharField()
    prev_hash = serializers.CharField()


class AuditPageSerializer(serializers.Serializer):
    results = AuditRecordSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


# --- export --------------------------------------------------------------------------------------
class ExportProgressSerializer(serializers.Serializer):
    entities_done = serializers.IntegerField()
    entities_total = serializers.IntegerField()


class ExportSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "running", "completed", "failed"])
    final = serializers.BooleanField()
    progress = ExportProgressSerializer()
    items = serializers.IntegerField()
    size = serializers.IntegerField(allow_null=True)
    counts = serializers.DictField(child=serializers.IntegerField())
    requested_by = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()
    completed_at = serializers.CharField(allow_null=True)


class ExportPageSerializer(serializers.Serializer):
    results = ExportSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class ExportLinkSerializer(serializers.Serializer):
    url = serializers.CharField()
    expires_in = serializers.IntegerField()
    expires_at = serializers.CharField()


# --- offboarding ---------------------------------------------------------------------------------
class OffboardConfirmSerializer(serializers.Serializer):
    confirm_name = serializers.CharField(min_length=1, max_length=200, trim_whitespace=False,
                                         help_text="The tenant's name, typed exactly, to confirm.")


class FinalExportStateSerializer(serializers.Serializer):
    ready = serializers.BooleanField(help_text="The final export is made and can be downloaded.")
    size = serializers.IntegerField(help_text="Bytes (0 until it is made).")


class OwnerOffboardingSerializer(serializers.Serializer):
    tenant_id = serializers.CharField()
    tenant_name = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["scheduled", "exporting", "waiting"])
    delete_after = serializers.CharField(help_text="When deletion starts; the download ends then.")
    final_export = FinalExportStateSerializer()


class OwnerOffboardingListSerializer(serializers.Serializer):
    results = OwnerOffboardingSerializer(many=True)


class OffboardingSerializer(serializers.Serializer):
    tenant_id = serializers.CharField()
    tenant_name = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["scheduled", "exporting", "waiting", "deleting", "completed"])
    requested_by = serializers.CharField(allow_null=True)
    requested_at = serializers.CharField(allow_null=True)
    delete_after = serializers.CharField()
    final_export_id = serializers.CharField(allow_null=True)
    deletion_started_at = serializers.CharField(allow_null=True)
    completed_at = serializers.CharField(allow_null=True)
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Items deleted, per entity type.")


# --- usage ---------------------------------------------------------------------------------------
class UsageBaselineSerializer(serializers.Serializer):
    products = serializers.IntegerField()
    stored_bytes = serializers.IntegerField()


class UsageDaySerializer(serializers.Serializer):
    day = serializers.CharField()
    api_requests = serializers.IntegerField()
    orders_placed = serializers.IntegerField()
    events_published = serializers.IntegerField()
    stored_bytes = serializers.IntegerField()
    baseline = UsageBaselineSerializer(required=False, help_text=(
        "Only on the day `manage.py backfill_usage` ran: the products and bytes stored then (tenants "
        "older than usage counting)."))


class PlanLimitSerializer(serializers.Serializer):
    limit = serializers.CharField()
    max = serializers.IntegerField(allow_null=True, help_text="null: unlimited")
    used = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    days = UsageDaySerializer(many=True)
    totals = serializers.DictField(child=serializers.IntegerField())
    limits = PlanLimitSerializer(many=True)
    unattached_upload_bytes = serializers.IntegerField(help_text=(
        "Bytes uploaded through upload forms and never attached: stored now, deleted by the bucket's "
        "lifecycle rule about a day after upload."))
