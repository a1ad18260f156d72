"""Tests of ducha.notices."""
