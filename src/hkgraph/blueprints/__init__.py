"""Blueprints: one per area of the web app."""
