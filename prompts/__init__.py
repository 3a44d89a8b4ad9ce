"""Prompt templates (Jinja), shipped as package data."""
