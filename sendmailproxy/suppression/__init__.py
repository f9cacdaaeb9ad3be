"""The suppression list: addresses that bounced, complained or unsubscribed anywhere get no more mail from us."""
