from django.urls import path

from customers.views import unsubscribe_page

urlpatterns = [
    path("unsubscribe/<str:token>/", unsubscribe_page, name="customer-unsubscribe-page"),
]
