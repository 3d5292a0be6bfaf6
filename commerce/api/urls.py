from django.urls import path

from commerce.api.views import ChannelListView

urlpatterns = [
    path("channels/", ChannelListView.as_view(), name="channel-list"),
]
