from django.urls import path

from . import views

urlpatterns = [
    path("", views.home),
    path("login", views.login_view),
    path("whoami", views.whoami),
    path("cart", views.cart),
    path("password", views.password),
]
