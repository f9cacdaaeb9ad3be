"""Events pushed to the application: signed per Standard Webhooks, retried on a schedule, shared through the store."""
