"""Tests of ducha.submissions."""
