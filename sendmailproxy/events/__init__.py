"""Delivery events: provider webhooks in, verified and normalised to one Event, kept in the store, read as a feed."""
