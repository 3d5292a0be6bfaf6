"""Staff endpoints for automation rules, their run log and approvals, and the storefront's
"tell me when it is back". Every write calls `automation.rules.services`."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from automation.models import Approval, Rule, RuleRun, RunStep
from automation.rules import library
from automation.rules.services import (
    approval_decide,
    back_in_stock_request,
    rule_publish,
    rule_save,
    rule_set_status,
)
from automation.rules.simulation import simulate
from catalog.models import ProductVariant
from commerce.api.permissions import StaffChangePermissions
from commerce.errors import NotFound, ValidationFailed
from commerce.selectors import channel_get_active

# --- serializers ----------------------------------------------------------------------------


class RuleOutputSerializer(serializers.ModelSerializer):
    published_version = serializers.IntegerField(
        source="published_version.number", allow_null=True, read_only=True
    )

    class Meta:
        model = Rule
        fields = [
            "id",
            "name",
            "description",
            "status",
            "trigger",
            "conditions_text",
            "guard_text",
            "steps_text",
            "definition",
            "published_version",
            "reentry",
            "reentry_days",
            "flood_limit_per_minute",
            "paused_reason",
            "template",
            "updated_at",
        ]
        read_only_fields = fields


class RuleInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    trigger = serializers.CharField(max_length=100)
    conditions_text = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=gettext_lazy("One condition per line (docs/automation.md)."),
    )
    guard_text = serializers.CharField(required=False, allow_blank=True)
    steps_text = serializers.CharField(
        help_text=gettext_lazy("One step per line (docs/automation.md).")
    )
    reentry = serializers.ChoiceField(choices=Rule.Reentry.choices, required=False)
    reentry_days = serializers.IntegerField(min_value=0, required=False)
    flood_limit_per_minute = serializers.IntegerField(min_value=1, required=False)
    extra = serializers.DictField(
        required=False,
        help_text=gettext_lazy("subject, exit_on, schedule, date, audience (docs/automation.md)."),
    )


class StatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Rule.Status.choices)


class SimulationReportSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    runs_started = serializers.IntegerField()
    skipped = serializers.DictField(
        child=serializers.IntegerField(), help_text=gettext_lazy("Evaluations skipped, by reason.")
    )
    outcomes = serializers.DictField(child=serializers.IntegerField())
    actions = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=gettext_lazy("Actions that would be taken, by type."),
    )
    recipients = serializers.IntegerField()
    messages_per_customer = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=gettext_lazy("Number of messages → customers receiving that many."),
    )
    deferrals = serializers.DictField(child=serializers.IntegerField())
    conflicts_with_other_rules = serializers.IntegerField()
    evaluated_on_current_data = serializers.ListField(child=serializers.CharField())
    samples = serializers.ListField(child=serializers.DictField())
    against_published = serializers.DictField(required=False)


class SimulateInputSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=400, default=30)


class RunStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunStep
        fields = ["index", "kind", "name", "status", "detail", "at"]
        read_only_fields = fields


class RuleRunSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", read_only=True)
    steps = RunStepSerializer(many=True, read_only=True)

    class Meta:
        model = RuleRun
        fields = [
            "id",
            "rule",
            "version",
            "status",
            "reason",
            "shadow",
            "depth",
            "subject_type",
            "subject_id",
            "customer_id",
            "order_id",
            "product_id",
            "event",
            "conditions",
            "due_at",
            "started_at",
            "finished_at",
            "steps",
        ]
        read_only_fields = fields


class ApprovalSerializer(serializers.ModelSerializer):
    class Meta:
        model = Approval
        fields = [
            "id",
            "run",
            "step_index",
            "action",
            "summary",
            "proposal",
            "status",
            "created_at",
            "decided_at",
        ]
        read_only_fields = fields


class DecisionInputSerializer(serializers.Serializer):
    approve = serializers.BooleanField()


class BackInStockInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    email = serializers.EmailField()
    language = serializers.CharField(max_length=10, required=False, allow_blank=True)


def _valid(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- staff ------------------------------------------------------------------------------------


@extend_schema(tags=["staff: automation"])
class StaffRuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Rules: create and edit the working copy, publish it as a version, switch the status,
    simulate it on past events, or install a ready-made one."""

    permission_classes = [StaffChangePermissions]
    lookup_value_regex = r"[0-9]+"
    serializer_class = RuleOutputSerializer
    queryset = Rule.objects.select_related("published_version").order_by("name")

    @extend_schema(request=RuleInputSerializer, responses={201: RuleOutputSerializer})
    def create(self, request):
        data = _valid(RuleInputSerializer, request.data)
        rule = rule_save(**data)
        return Response(RuleOutputSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RuleInputSerializer, responses=RuleOutputSerializer)
    def partial_update(self, request, pk=None):
        rule = self.get_object()
        data = _valid(RuleInputSerializer, request.data, partial=True)
        rule = rule_save(rule=rule, **data)
        return Response(RuleOutputSerializer(rule).data)

    @extend_schema(request=None, responses=RuleOutputSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        rule = self.get_object()
        rule_publish(rule=rule, actor=request.user)
        return Response(RuleOutputSerializer(Rule.objects.get(pk=rule.pk)).data)

    @extend_schema(request=StatusInputSerializer, responses=RuleOutputSerializer)
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        rule = self.get_object()
        data = _valid(StatusInputSerializer, request.data)
        rule_set_status(rule=rule, status=data["status"])
        return Response(RuleOutputSerializer(rule).data)

    @extend_schema(request=SimulateInputSerializer, responses={200: SimulationReportSerializer})
    @action(detail=True, methods=["post"])
    def simulate(self, request, pk=None):
        rule = self.get_object()
        data = _valid(SimulateInputSerializer, request.data)
        return Response(simulate(rule, since=timezone.now() - timedelta(days=data["days"])))

    @extend_schema(request=None, responses={201: RuleOutputSerializer})
    @action(detail=False, methods=["post"], url_path=r"library/(?P<key>[A-Za-z0-9_]+)")
    def install(self, request, key=None):
        if key not in library.LIBRARY:
            raise NotFound(_("There is no ready-made automation %(key)s.") % {"key": key})
        rule = library.install(key)
        return Response(RuleOutputSerializer(rule).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["staff: automation"])
class StaffRuleRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The run log: filter by rule, status, order, customer or product."""

    permission_classes = [StaffChangePermissions]
    lookup_value_regex = r"[0-9]+"
    serializer_class = RuleRunSerializer

    def get_queryset(self):
        runs = RuleRun.objects.select_related("version").prefetch_related("steps").order_by("-id")
        params = self.request.query_params
        for name in ("rule", "order_id", "customer_id", "product_id"):
            value = params.get(name)
            if value is not None:
                if not value.isdigit():
                    raise ValidationFailed({name: [_("A number.")]})
                runs = runs.filter(**{name if name != "rule" else "rule_id": int(value)})
        if params.get("status"):
            runs = runs.filter(status=params["status"])
        return runs


@extend_schema(tags=["staff: automation"])
class StaffApprovalViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Steps waiting for staff (price changes beyond the threshold). Decide with approve
    true or false."""

    permission_classes = [StaffChangePermissions]
    lookup_value_regex = r"[0-9]+"
    serializer_class = ApprovalSerializer

    def get_queryset(self):
        approvals = Approval.objects.order_by("-id")
        if self.request.query_params.get("status"):
            approvals = approvals.filter(status=self.request.query_params["status"])
        return approvals

    @extend_schema(request=DecisionInputSerializer, responses=ApprovalSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        approval = Approval.objects.filter(pk=pk).first()
        if approval is None:
            raise NotFound(_("There is no such approval."))
        data = _valid(DecisionInputSerializer, request.data)
        approval = approval_decide(approval=approval, approve=data["approve"], actor=request.user)
        return Response(ApprovalSerializer(approval).data)


# --- storefront -------------------------------------------------------------------------------


@extend_schema(
    tags=["storefront: catalogue"],
    request=BackInStockInputSerializer,
    responses={201: None},
)
class BackInStockView(APIView):
    """Ask to be told by e-mail, once, when a variant is back in stock in this channel."""

    permission_classes = [AllowAny]

    def post(self, request, channel):
        found = channel_get_active(code=channel)
        data = _valid(BackInStockInputSerializer, request.data)
        variant = ProductVariant.objects.select_related("product").filter(sku=data["sku"]).first()
        if variant is None:
            raise ValidationFailed({"sku": [_("There is no product with this SKU.")]})
        customer = None
        if request.user and request.user.is_authenticated:
            from customers.models import Customer

            customer = Customer.objects.filter(
                user=request.user, state=Customer.State.ACTIVE
            ).first()
        with transaction.atomic():
            back_in_stock_request(
                variant=variant,
                channel=found,
                email=data["email"],
                customer=customer,
                language=data.get("language", ""),
            )
        return Response(
            {"detail": _("We will e-mail you once when it is back.")},
            status=status.HTTP_201_CREATED,
        )
