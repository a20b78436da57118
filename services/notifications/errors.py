"""Domain errors of the notifications service, each with a stable problem `type`."""

from __future__ import annotations

from shared.problems import Conflict, NotFound


class RuleNotFound(NotFound):
    type_slug, title = "deadline-rule-not-found", "No such deadline rule"


class NotificationNotFound(NotFound):
    type_slug, title = "notification-not-found", "Notification not found"


class SubscriptionNotFound(NotFound):
    type_slug, title = "subscription-not-found", "Subscription not found"


class DeliveryNotFound(NotFound):
    type_slug, title = "delivery-not-found", "Delivery not found"


class SubscriptionDisabled(Conflict):
    type_slug, title = "subscription-disabled", "Subscription disabled"


class DeadlineNotFound(NotFound):
    type_slug, title = "deadline-not-found", "Deadline not found"
