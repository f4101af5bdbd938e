from __future__ import annotations

from typing import Any

from django import forms

from jobs.models import Order, OrderImage, Service, Turnaround


class OrderForm(forms.ModelForm):
    """Create or edit a draft. ``style_guides`` and ``clients`` are the user's scoped choices."""

    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.none(), widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one service."},
    )
    turnaround = forms.ChoiceField(choices=Turnaround.choices, widget=forms.RadioSelect, initial=Turnaround.STANDARD)

    class Meta:
        model = Order
        fields = ["client", "title", "style_guide", "services", "turnaround", "instructions", "po_number"]
        widgets = {"instructions": forms.Textarea(attrs={"rows": 5})}
        help_texts = {
            "style_guide": "The order keeps this version of the style guide, even if the guide changes later.",
            "po_number": "Your purchase-order reference, printed on the invoice.",
        }

    def __init__(self, *args: Any, services: Any, style_guides: Any, clients: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["services"].queryset = services
        self.fields["style_guide"].queryset = style_guides
        self.fields["style_guide"].label_from_instance = lambda g: (
            f"{g.name} (v{g.version})" if clients is None else f"{g.client.name}: {g.name} (v{g.version})"
        )
        if clients is None or not self.instance._state.adding:
            del self.fields["client"]
        else:
            self.fields["client"].queryset = clients


class ImageForm(forms.ModelForm):
    """An image's SKU and its own instructions; the studio also grades its complexity."""

    class Meta:
        model = OrderImage
        fields = ["sku", "instructions", "complexity", "complexity_reason"]
        widgets = {"instructions": forms.Textarea(attrs={"rows": 4, "placeholder": "For this photograph only, "
                                                         "e.g. keep the engraving on the inner band sharp"}),
                   "complexity_reason": forms.TextInput(attrs={"placeholder": "e.g. pavé band: every stone needs work"})}
        help_texts = {"sku": "Used in the delivered file names.",
                      "complexity": "Sets the price per service and the retoucher's estimated minutes."}

    def __init__(self, *args: Any, grade: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not grade:
            del self.fields["complexity"], self.fields["complexity_reason"]
        elif self.instance.complexity_estimate:
            measured = self.instance.get_complexity_estimate_display().lower()
            self.fields["complexity"].help_text = (f"Measured {measured} at intake. Sets the price per service and the "
                                                   "retoucher's estimated minutes.")
            self.fields["complexity_reason"].help_text = f"Needed when you grade it otherwise than {measured}."
        else:
            del self.fields["complexity_reason"]


class TransitionForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500)


class OrderFilterForm(forms.Form):
    status = forms.ChoiceField(required=False)
    client = forms.ModelChoiceField(queryset=None, required=False, empty_label="All clients")
    q = forms.CharField(required=False, max_length=100, label="Search",
                        widget=forms.TextInput(attrs={"placeholder": "Number, title, PO, SKU or file name", "type": "search"}))
    mine = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, clients: Any, statuses: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "All statuses"), *statuses]
        if clients is None:
            del self.fields["client"]
        else:
            self.fields["client"].queryset = clients
