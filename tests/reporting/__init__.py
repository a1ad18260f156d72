"""Tests of ducha.reporting."""
