"""The retention domain: the daily sweep of what each tenant's status says has expired."""
