"""Tests of ducha.evaluation."""
