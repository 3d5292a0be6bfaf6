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


class StaffChangePermissions(StaffModelPermissions):
    """For POST sub-resources that change an existing object (set a price, publish): they need
    the model's change permission, not its add permission."""

    perms_map = {**StaffModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class StaffDeletePermissions(StaffModelPermissions):
    """For POST actions that remove data for good (erasing a customer): the delete permission."""

    perms_map = {**StaffModelPermissions.perms_map, "POST": ["%(app_label)s.delete_%(model_name)s"]}
