import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from saas import queues


class Command(BaseCommand):
    help = ("Turn on ReportBatchItemFailures on the worker stage's SQS event source mapping(s), which Zappa "
            "creates but cannot configure. Run it after `zappa deploy <worker stage>` (and after `zappa update`, "
            "to check it is still on). Reads the function name and queue ARN(s) from zappa_settings.json.")

    def add_arguments(self, parser):
        parser.add_argument("--stage", required=True, help="the worker stage in zappa_settings.json, e.g. dev_worker")
        parser.add_argument("--settings-file", default=str(Path(settings.BASE_DIR) / "zappa_settings.json"))

    def handle(self, *args, stage, settings_file, **options):
        try:
            function_name, arns = queues.worker_stage_event_sources(json.loads(Path(settings_file).read_text()), stage)
        except KeyError as exc:
            raise CommandError(f"stage {stage!r} not found in {settings_file}: {exc}") from exc
        if not arns:
            raise CommandError(f"stage {stage!r} has no SQS event source in its events")
        for arn in arns:
            try:
                for line in queues.report_batch_item_failures(function_name=function_name, queue_arn=arn):
                    self.stdout.write(f"{function_name} <- {arn}: {line}")
            except LookupError as exc:
                raise CommandError(str(exc)) from exc
