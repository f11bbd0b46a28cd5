"""Tune's tables as typed SQLAlchemy models, one module per subsystem.

The schema is created by the Alembic migrations in `webapp/core/migrations`; a test
checks that the migrations and these models agree. Every table is imported here, so
`from webapp.core.models import X` names any of them and `Base.metadata` holds all.
"""

from webapp.core.models.base import NAMING_CONVENTION, Base, BigId, UTCDateTime, utcnow
from webapp.core.models.inbox import InboxFolder, InboxReceipt, Reply, Suppression
from webapp.core.models.mailboxes import CampaignMailbox, Mailbox, SendSlot
from webapp.core.models.records import (
    ActivityBucket,
    ApiKey,
    Campaign,
    CampaignCounter,
    CampaignFigures,
    Contact,
    Content,
    EmailTemplateRow,
    Event,
    ImportJob,
    ImportReject,
    Industry,
    Link,
    Prospect,
    User,
)
from webapp.core.models.sequences import Enrollment, SequenceStep, SequenceVariant, StepTemplate
from webapp.core.models.webhooks import WebhookDelivery, WebhookEndpoint
from webapp.core.models.workspace import FollowUpState, ProspectOutcome

__all__ = [
    "NAMING_CONVENTION",
    "ActivityBucket",
    "ApiKey",
    "Base",
    "BigId",
    "Campaign",
    "CampaignCounter",
    "CampaignFigures",
    "CampaignMailbox",
    "Contact",
    "Content",
    "EmailTemplateRow",
    "Enrollment",
    "Event",
    "FollowUpState",
    "ImportJob",
    "ImportReject",
    "InboxFolder",
    "InboxReceipt",
    "Industry",
    "Link",
    "Mailbox",
    "Prospect",
    "ProspectOutcome",
    "Reply",
    "SendSlot",
    "SequenceStep",
    "SequenceVariant",
    "StepTemplate",
    "Suppression",
    "UTCDateTime",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "utcnow",
]
