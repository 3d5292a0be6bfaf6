from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import AllowAny

from commerce.api.serializers import ChannelOutputSerializer
from commerce.selectors import channel_list_active


@extend_schema(tags=["storefront"], summary="Active sales channels")
class ChannelListView(generics.ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = ChannelOutputSerializer
    pagination_class = None

    def get_queryset(self):
        return channel_list_active()
