"""Tests of ducha.targets."""
