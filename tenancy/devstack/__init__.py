"""Throwaway local PostgreSQL and Redis servers: the embedded defaults and the test fixtures."""
