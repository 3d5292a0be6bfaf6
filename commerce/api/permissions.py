from rest_framework import permissions


class StaffModelPermissions(permissions.DjangoModelPermissions):
    """Staff endpoints: a staff member with the model's Django permissions, reads included.

    Anonymous callers get 401 and signed-in customers 403, whatever the model permissions say.
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user and user.is_authenticated and not user.is_staff:
            return False
        return super().has_permission(request, view)
