from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from agency.fields import TimeZoneField
from agency.models import CLIENT_ROLES, MANAGER_ROLES, Role, SecurityEvent, User
from clients.models import OUTPUT_FORMATS, Client, StyleGuide, WebhookEvent


class ClientForm(forms.ModelForm):
    time_zone = TimeZoneField(label="Time zone", help_text="The company's people see times in this zone.")

    class Meta:
        model = Client
        fields = list(Client.TERMS_FIELDS)
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].keep(self.instance.time_zone)
        self.fields["time_zone"].initial = self.instance.time_zone or settings.TIME_ZONE
        self.fields["account_manager"].queryset = User.objects.filter(role__in=MANAGER_ROLES, is_active=True)
        for name, days in (("keep_files_days", settings.LOUPE_KEEP_FILES_DAYS),
                           ("keep_deliveries_days", settings.LOUPE_KEEP_DELIVERIES_DAYS)):
            field = self.fields[name]
            field.help_text = str(field.help_text).replace("the studio's default.", f"the studio's default, {days} days.")
            field.widget.attrs["placeholder"] = str(days)


class MemberForm(forms.Form):
    full_name = forms.CharField(max_length=150)
    email = forms.EmailField(label="E-mail address", max_length=254)
    role = forms.ChoiceField(choices=[(r.value, r.label) for r in Role if r in CLIENT_ROLES],
                             initial=Role.CLIENT_MEMBER)


class StyleGuideForm(forms.ModelForm):
    output_formats = forms.MultipleChoiceField(
        choices=[(f, f) for f in OUTPUT_FORMATS], widget=forms.CheckboxSelectMultiple, initial=["JPEG"],
    )

    class Meta:
        model = StyleGuide
        fields = list(StyleGuide.CONTENT_FIELDS)
        widgets = {
            "notes": forms.Textarea(attrs={"rows": 3}),
            "gemstone_notes": forms.Textarea(attrs={"rows": 2}),
            "background_colour": forms.TextInput(attrs={"placeholder": "#F4F1EC"}),
        }


class StyleGuideCreateForm(StyleGuideForm):
    """For studio users, who choose the company; client users create for their own."""

    client = forms.ModelChoiceField(queryset=Client.objects.none())

    class Meta(StyleGuideForm.Meta):
        fields = ["client", *StyleGuideForm.Meta.fields]

    def __init__(self, *args: Any, clients: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = clients


class SecurityLogFilterForm(forms.Form):
    kind = forms.ChoiceField(label="What", required=False, choices=[("", "Everything"), *SecurityEvent.Kind.choices])
    person = forms.CharField(label="Person", required=False, max_length=254,
                             widget=forms.TextInput(attrs={"placeholder": "e-mail address or part of it"}))


class WebhookForm(forms.Form):
    url = forms.CharField(label="URL", max_length=500, widget=forms.URLInput(attrs={"placeholder": "https://"}),
                          help_text="Where Loupe POSTs each event (https, a public address).")
    events = forms.MultipleChoiceField(choices=[(e.value, f"{e.value}: {e.label}") for e in WebhookEvent
                                                if e != WebhookEvent.PING], widget=forms.CheckboxSelectMultiple)
    description = forms.CharField(max_length=200, required=False, help_text="What receives it, e.g. “PIM sync”.")

    def __init__(self, *args: Any, companies: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if companies is not None:  # the studio's managers choose whose events
            self.fields["client"] = forms.ModelChoiceField(
                label="Events of", queryset=companies, required=False, empty_label="Every client (the studio's endpoint)")
