"""Reporting: tables and consoles for figures the stages measured."""
