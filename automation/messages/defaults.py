"""The built-in wording of every transactional notification, in English and Japanese.

Used wherever the merchant has no template of their own for the kind, medium, language and
channel, so every channel sends every notification from the first day. A merchant's template
starts as a copy of these (the admin's add form fills them in).
"""

from __future__ import annotations

from dataclasses import dataclass

from automation.messages import kinds as k


@dataclass(frozen=True)
class Wording:
    subject: str
    text: str
    short: str  # SMS / LINE


LINES_EN = """{% for line in order.lines %}- {{ line.name }}{% if line.variant %} ({{ line.variant }}){% endif %} × {{ line.quantity }}: {{ line.amount }}
{% endfor %}
Subtotal: {{ order.subtotal }}{% if order.discount_total.amount %}
Discounts: -{{ order.discount_total }}{% endif %}
Shipping: {{ order.shipping_total }}
Total: {{ order.total }}{% for band in order.tax_bands %}
  {{ band.rate }} tax on {{ band.gross }}: {{ band.tax }}{% endfor %}"""

LINES_JA = """{% for line in order.lines %}・{{ line.name }}{% if line.variant %}（{{ line.variant }}）{% endif %} × {{ line.quantity }}：{{ line.amount }}
{% endfor %}
小計：{{ order.subtotal }}{% if order.discount_total.amount %}
割引：-{{ order.discount_total }}{% endif %}
送料：{{ order.shipping_total }}
合計：{{ order.total }}{% for band in order.tax_bands %}
（{{ band.rate }}対象 {{ band.gross }} 内消費税 {{ band.tax }}）{% endfor %}"""

# Written out in the Japanese wording (not through gettext), so a Japanese mail reads Japanese
# before the project's ja translation exists.
PAYMENT_JA = (
    "\n\nお支払い方法："
    "{% if order.payment_method == 'card' %}クレジットカード"
    "{% elif order.payment_method == 'cod' %}代金引換"
    "{% elif order.payment_method == 'bank_transfer' %}銀行振込"
    "{% elif order.payment_method == 'pay_at_store' %}店頭でのお支払い"
    "{% elif order.payment_method == 'cash' %}現金"
    "{% else %}{{ order.payment_method_label }}{% endif %}"
    "{% if payment.bank_transfer and payment.due.amount %}\n下記の口座へ {{ payment.due }} をお振り込みください"
    "（お振込名義の前に注文番号 {{ order.number }} をご記入ください）。\n{{ payment.bank_account }}{% endif %}"
    "{% if payment.cod and payment.due.amount %}\nお届けの際に {{ payment.due }} を配達員にお支払いください。{% endif %}"
)
SIGNATURE_EN = "\n\n{{ shop.name }}\n{{ shop.url }}\nQuestions? {{ shop.support_email }}"
SIGNATURE_JA = "\n\n{{ shop.name }}\n{{ shop.url }}\nお問い合わせ：{{ shop.support_email }}"

EN: dict[str, Wording] = {
    k.ORDER_CONFIRMATION: Wording(
        "Your order {{ order.number }} at {{ shop.name }}",
        "Dear {{ customer.name|default:'customer' }},\n\nThank you for your order {{ order.number }} of {{ order.placed_at }}.\n\n"
        + LINES_EN
        + "\n\nPayment: {{ order.payment_method_label }}{% if payment_instructions %}\n{{ payment_instructions }}{% endif %}"
        "{% if order.is_pickup %}\nPickup at {{ order.pickup_store }}: we will tell you when it is ready."
        "{% else %}\nDelivery to:\n{{ order.shipping_address.text }}{% if order.estimated_delivery %}\nExpected by {{ order.estimated_delivery }}.{% endif %}{% endif %}"
        "\n\nFollow your order: {{ order.tracking_page_url }}"
        "{% if upsell %}\n\nYou may also like:{% for p in upsell %}\n- {{ p.name }} ({{ p.price }}) {{ p.url }}{% endfor %}{% endif %}"
        + SIGNATURE_EN,
        "{{ shop.name }}: thank you for order {{ order.number }}, {{ order.total }}. {{ order.tracking_page_url }}",
    ),
    k.PAYMENT_RECEIVED: Wording(
        "Payment received for order {{ order.number }}",
        "Dear {{ customer.name|default:'customer' }},\n\nWe have received {{ order.paid_total }} for order {{ order.number }}. We are preparing it now."
        + SIGNATURE_EN,
        "{{ shop.name }}: payment of {{ order.paid_total }} for order {{ order.number }} received.",
    ),
    k.SHIPPED: Wording(
        "Order {{ order.number }} is on its way",
        "Dear {{ customer.name|default:'customer' }},\n\nParcel {{ fulfilment.number }} of order {{ order.number }} has left us{% if fulfilment.carrier %} with {{ fulfilment.carrier }}{% endif %}.\n"
        "{% for line in fulfilment.lines %}- {{ line.name }} × {{ line.quantity }}\n{% endfor %}"
        "{% if fulfilment.tracking_number %}\nTracking number: {{ fulfilment.tracking_number }}{% endif %}"
        "{% if fulfilment.tracking_url %}\nTrack it: {{ fulfilment.tracking_url }}{% endif %}"
        "{% if fulfilment.estimated_delivery %}\nExpected by {{ fulfilment.estimated_delivery }}.{% endif %}"
        + SIGNATURE_EN,
        "{{ shop.name }}: order {{ order.number }} shipped. {% if fulfilment.tracking_url %}{{ fulfilment.tracking_url }}{% else %}{{ fulfilment.tracking_number }}{% endif %}",
    ),
    k.DELIVERED: Wording(
        "Order {{ order.number }} was delivered",
        "Dear {{ customer.name|default:'customer' }},\n\nParcel {{ fulfilment.number }} of order {{ order.number }} was delivered. We hope you enjoy it."
        + SIGNATURE_EN,
        "{{ shop.name }}: order {{ order.number }} delivered.",
    ),
    k.PICKUP_READY: Wording(
        "Order {{ order.number }} is ready for pickup",
        "Dear {{ customer.name|default:'customer' }},\n\nYour order {{ order.number }} is waiting for you at {{ fulfilment.location.name }}.\n"
        "Pickup code: {{ fulfilment.pickup_code }}\n{{ fulfilment.location.address }}"
        "{% if fulfilment.location.opening_hours %}\nOpening hours: {{ fulfilment.location.opening_hours }}{% endif %}"
        "\nPlease collect it by {{ fulfilment.collect_by }}." + SIGNATURE_EN,
        "{{ shop.name }}: order {{ order.number }} is ready at {{ fulfilment.location.name }}. Code {{ fulfilment.pickup_code }}.",
    ),
    k.PICKUP_REMINDER: Wording(
        "Reminder: order {{ order.number }} is waiting at {{ fulfilment.location.name }}",
        "Dear {{ customer.name|default:'customer' }},\n\nYour order {{ order.number }} is still waiting at {{ fulfilment.location.name }}. "
        "Please collect it by {{ fulfilment.collect_by }}.\nPickup code: {{ fulfilment.pickup_code }}"
        "{% if fulfilment.location.opening_hours %}\nOpening hours: {{ fulfilment.location.opening_hours }}{% endif %}"
        + SIGNATURE_EN,
        "{{ shop.name }}: order {{ order.number }} waits at {{ fulfilment.location.name }} until {{ fulfilment.collect_by }}. Code {{ fulfilment.pickup_code }}.",
    ),
    k.DELAY_NOTICE: Wording(
        "Order {{ order.number }} is delayed",
        "Dear {{ customer.name|default:'customer' }},\n\nWe are sorry: part of your order {{ order.number }} ({{ fulfilment.number }}) is taking longer than planned. "
        "{% if in_transit %}It is on its way with the carrier; we now expect it by {{ new_estimate }}.{% else %}We will write again when it ships. If you would rather cancel, just reply to this message.{% endif %}"
        + SIGNATURE_EN,
        "{{ shop.name }}: sorry, order {{ order.number }} is delayed. We will tell you when it ships.",
    ),
    k.ORDER_CANCELLED: Wording(
        "Order {{ order.number }} was cancelled",
        "Dear {{ customer.name|default:'customer' }},\n\nYour order {{ order.number }} was cancelled.{% if cancellation.reason %} Reason: {{ cancellation.reason }}{% endif %}"
        "{% if order.paid_total.amount %}\nAny payment will be refunded to your original payment method.{% endif %}"
        + SIGNATURE_EN,
        "{{ shop.name }}: order {{ order.number }} was cancelled.",
    ),
    k.REFUNDED: Wording(
        "Refund of {{ refund.amount }} for order {{ order.number }}",
        "Dear {{ customer.name|default:'customer' }},\n\nWe have refunded {{ refund.amount }} for order {{ order.number }} (refunded in all: {{ order.refunded_total }}). "
        "It may take a few days to appear on your statement." + SIGNATURE_EN,
        "{{ shop.name }}: {{ refund.amount }} refunded for order {{ order.number }}.",
    ),
    k.ACCOUNT_CONFIRMATION: Wording(
        "Confirm your account",
        "Hello,\n\nYou have ordered from us before with this e-mail address. Open this link within {{ hours }} hours "
        "to finish creating your account; your earlier orders, addresses and points will be in it:\n\n{{ link }}\n\n"
        "If you did not ask for an account, ignore this e-mail." + SIGNATURE_EN,
        "{{ shop.name }}: confirm your account: {{ link }}",
    ),
    k.PASSWORD_RESET: Wording(
        "Reset your password",
        "Hello,\n\nSomeone asked to reset the password of your account. If it was you, open this link within "
        "{{ hours }} hours to choose a new password:\n\n{{ link }}\n\n"
        "If it was not you, ignore this e-mail; your password stays as it is." + SIGNATURE_EN,
        "{{ shop.name }}: reset your password: {{ link }}",
    ),
    k.TEST: Wording(
        "Test message from {{ shop.name }}",
        "This is a test message from {{ shop.name }}. Order for the example: {{ order.number }}, {{ order.total }}."
        + SIGNATURE_EN,
        "{{ shop.name }}: test message.",
    ),
}

JA: dict[str, Wording] = {
    k.ORDER_CONFIRMATION: Wording(
        "【{{ shop.name }}】ご注文ありがとうございます（注文番号 {{ order.number }}）",
        "{{ customer.name|default:'お客' }} 様\n\nこの度はご注文いただき誠にありがとうございます。\n注文番号：{{ order.number }}\nご注文日時：{{ order.placed_at }}\n\n"
        + LINES_JA
        + PAYMENT_JA
        + "{% if order.is_pickup %}\n受取店舗：{{ order.pickup_store }}（準備ができましたらお知らせします）"
        "{% else %}\nお届け先：\n{{ order.shipping_address.text }}{% if order.estimated_delivery %}\nお届け予定：{{ order.estimated_delivery }}{% endif %}{% endif %}"
        "\n\nご注文状況：\n{{ order.tracking_page_url }}"
        "{% if upsell %}\n\nこちらもおすすめです：{% for p in upsell %}\n・{{ p.name }}（{{ p.price }}）\n  {{ p.url }}{% endfor %}{% endif %}"
        + SIGNATURE_JA,
        "【{{ shop.name }}】ご注文ありがとうございます。注文番号 {{ order.number }}、合計 {{ order.total }}。{{ order.tracking_page_url }}",
    ),
    k.PAYMENT_RECEIVED: Wording(
        "【{{ shop.name }}】ご入金を確認しました（注文番号 {{ order.number }}）",
        "{{ customer.name|default:'お客' }} 様\n\n注文番号 {{ order.number }} のご入金 {{ order.paid_total }} を確認いたしました。発送の準備を進めます。"
        + SIGNATURE_JA,
        "【{{ shop.name }}】注文番号 {{ order.number }} のご入金 {{ order.paid_total }} を確認しました。",
    ),
    k.SHIPPED: Wording(
        "【{{ shop.name }}】商品を発送しました（注文番号 {{ order.number }}）",
        "{{ customer.name|default:'お客' }} 様\n\nご注文 {{ order.number }} の荷物 {{ fulfilment.number }} を{% if fulfilment.carrier %}{{ fulfilment.carrier }}にて{% endif %}発送いたしました。\n"
        "{% for line in fulfilment.lines %}・{{ line.name }} × {{ line.quantity }}\n{% endfor %}"
        "{% if fulfilment.tracking_number %}\nお問い合わせ番号：{{ fulfilment.tracking_number }}{% endif %}"
        "{% if fulfilment.tracking_url %}\n配送状況：\n{{ fulfilment.tracking_url }}{% endif %}"
        "{% if fulfilment.estimated_delivery %}\nお届け予定：{{ fulfilment.estimated_delivery }}{% endif %}"
        + SIGNATURE_JA,
        "【{{ shop.name }}】注文番号 {{ order.number }} を発送しました。{% if fulfilment.tracking_url %}{{ fulfilment.tracking_url }}{% else %}{{ fulfilment.tracking_number }}{% endif %}",
    ),
    k.DELIVERED: Wording(
        "【{{ shop.name }}】お届けが完了しました（注文番号 {{ order.number }}）",
        "{{ customer.name|default:'お客' }} 様\n\nご注文 {{ order.number }} の荷物 {{ fulfilment.number }} のお届けが完了しました。"
        + SIGNATURE_JA,
        "【{{ shop.name }}】注文番号 {{ order.number }} のお届けが完了しました。",
    ),
    k.PICKUP_READY: Wording(
        "【{{ shop.name }}】店舗でお受け取りいただけます（注文番号 {{ order.number }}）",
        "{{ customer.name|default:'お客' }} 様\n\nご注文 {{ order.number }} の商品を {{ fulfilment.location.name }} にてご用意しました。\n"
        "受取コード：{{ fulfilment.pickup_code }}\n{{ fulfilment.location.address }}"
        "{% if fulfilment.location.opening_hours %}\n営業時間：{{ fulfilment.location.opening_hours }}{% endif %}"
        "\n{{ fulfilment.collect_by }} までにお受け取りください。" + SIGNATURE_JA,
        "【{{ shop.name }}】注文番号 {{ order.number }} は {{ fulfilment.location.name }} でお受け取りいただけます。受取コード {{ fulfilment.pickup_code }}",
    ),
    k.PICKUP_REMINDER: Wording(
        "【{{ shop.name }}】お受け取りをお待ちしております（注文番号 {{ order.number }}）",
        "{{ customer.name|default:'お客' }} 様\n\nご注文 {{ order.number }} の商品を {{ fulfilment.location.name }} にてお預かりしております。"
        "{{ fulfilment.collect_by }} までにお受け取りください。\n受取コード：{{ fulfilment.pickup_code }}"
        "{% if fulfilment.location.opening_hours %}\n営業時間：{{ fulfilment.location.opening_hours }}{% endif %}"
        + SIGNATURE_JA,
        "【{{ shop.name }}】注文番号 {{ order.number }} を {{ fulfilment.collect_by }} まで {{ fulfilment.location.name }} でお預かりしています。受取コード {{ fulfilment.pickup_code }}",
    ),
    k.DELAY_NOTICE: Wording(
        "【{{ shop.name }}】発送遅延のお詫び（注文番号 {{ order.number }}）",
        "{{ customer.name|default:'お客' }} 様\n\nご注文 {{ order.number }}（{{ fulfilment.number }}）の{% if in_transit %}お届けが予定より遅れております。大変申し訳ございません。"
        "現在配送業者にてお届け中で、{{ new_estimate }} までのお届けを見込んでおります。{% else %}発送が予定より遅れております。大変申し訳ございません。"
        "発送いたしましたら改めてご連絡いたします。キャンセルをご希望の場合は本メールにご返信ください。{% endif %}"
        + SIGNATURE_JA,
        "【{{ shop.name }}】注文番号 {{ order.number }} の発送が遅れております。申し訳ございません。",
    ),
    k.ORDER_CANCELLED: Wording(
        "【{{ shop.name }}】ご注文をキャンセルしました（注文番号 {{ order.number }}）",
        "{{ customer.name|default:'お客' }} 様\n\nご注文 {{ order.number }} をキャンセルいたしました。{% if cancellation.reason %}理由：{{ cancellation.reason }}{% endif %}"
        "{% if order.paid_total.amount %}\nお支払い済みの代金は、お支払い方法に返金いたします。{% endif %}"
        + SIGNATURE_JA,
        "【{{ shop.name }}】注文番号 {{ order.number }} をキャンセルしました。",
    ),
    k.REFUNDED: Wording(
        "【{{ shop.name }}】返金のお知らせ（注文番号 {{ order.number }}）",
        "{{ customer.name|default:'お客' }} 様\n\nご注文 {{ order.number }} について {{ refund.amount }} を返金いたしました（返金合計 {{ order.refunded_total }}）。"
        "明細への反映まで数日かかる場合がございます。" + SIGNATURE_JA,
        "【{{ shop.name }}】注文番号 {{ order.number }} について {{ refund.amount }} を返金しました。",
    ),
    k.ACCOUNT_CONFIRMATION: Wording(
        "【{{ shop.name }}】メールアドレスの確認",
        "会員登録を完了するには、次のリンクからメールアドレスをご確認ください。\n\n{{ link }}\n\nリンクの有効期限は{{ hours }}時間です。お心当たりのない場合は破棄してください。"
        + SIGNATURE_JA,
        "【{{ shop.name }}】会員登録の確認：{{ link }}",
    ),
    k.PASSWORD_RESET: Wording(
        "【{{ shop.name }}】パスワード再設定のご案内",
        "新しいパスワードを設定するには、次のリンクを開いてください。\n{{ link }}\n\nリンクの有効期限は{{ hours }}時間です。お心当たりのない場合は破棄してください。"
        + SIGNATURE_JA,
        "【{{ shop.name }}】パスワード再設定：{{ link }}",
    ),
    k.TEST: Wording(
        "【{{ shop.name }}】テストメッセージ",
        "{{ shop.name }} からのテストメッセージです。例の注文：{{ order.number }}、{{ order.total }}。"
        + SIGNATURE_JA,
        "【{{ shop.name }}】テストメッセージです。",
    ),
}

EN.update(
    {
        k.ABANDONED_CART: Wording(
            "You left something in your cart at {{ shop.name }}",
            "Dear {{ customer.name|default:'customer' }},\n\nYour cart is waiting for you:\n"
            "{% for line in cart.lines %}- {{ line.name }} × {{ line.quantity }}\n{% endfor %}"
            "\nCome back to finish your order: {{ shop.url }}" + SIGNATURE_EN,
            "{{ shop.name }}: your cart is waiting for you. {{ shop.url }}",
        ),
        k.ABANDONED_CART_OFFER: Wording(
            "A little something to finish your order at {{ shop.name }}",
            "Dear {{ customer.name|default:'customer' }},\n\nYour cart is still here:\n"
            "{% for line in cart.lines %}- {{ line.name }} × {{ line.quantity }}\n{% endfor %}"
            "\nUse the code {{ code.code }} before {{ code.expires_at }} (once, for you only)."
            "\n{{ shop.url }}" + SIGNATURE_EN,
            "{{ shop.name }}: code {{ code.code }} for your cart, valid 72 h. {{ shop.url }}",
        ),
        k.WELCOME: Wording(
            "Welcome to {{ shop.name }} members",
            "Dear {{ customer.name|default:'customer' }},\n\nThank you for joining. "
            "{% if code %}Your welcome code {{ code.code }} is valid until {{ code.expires_at }}.{% endif %}"
            "{% if recommendations %}\n\nPicked for you:{% for p in recommendations %}\n- {{ p.name }} ({{ p.price }}){% endfor %}{% endif %}"
            + SIGNATURE_EN,
            "{{ shop.name }}: welcome!{% if code %} Code {{ code.code }}.{% endif %}",
        ),
        k.BACK_IN_STOCK: Wording(
            "{{ product.name }} is back in stock",
            "Good news: {{ product.name }} is back at {{ shop.name }}.\n{{ shop.url }}"
            + SIGNATURE_EN,
            "{{ shop.name }}: {{ product.name }} is back in stock. {{ shop.url }}",
        ),
        k.CAMPAIGN: Wording(
            "News from {{ shop.name }}",
            "Dear {{ customer.name|default:'customer' }},\n\n{{ text }}" + SIGNATURE_EN,
            "{{ shop.name }}: {{ text }}",
        ),
    }
)
JA.update(
    {
        k.ABANDONED_CART: Wording(
            "【{{ shop.name }}】カートに商品が残っています",
            "{{ customer.name|default:'お客' }} 様\n\nカートに次の商品が残っています。\n"
            "{% for line in cart.lines %}・{{ line.name }} × {{ line.quantity }}\n{% endfor %}"
            "\nご注文の続きはこちら：{{ shop.url }}" + SIGNATURE_JA,
            "【{{ shop.name }}】カートに商品が残っています。{{ shop.url }}",
        ),
        k.ABANDONED_CART_OFFER: Wording(
            "【{{ shop.name }}】お客様限定クーポンのご案内",
            "{{ customer.name|default:'お客' }} 様\n\nカートの商品はまだご用意しています。\n"
            "{% for line in cart.lines %}・{{ line.name }} × {{ line.quantity }}\n{% endfor %}"
            "\nクーポンコード {{ code.code }}（{{ code.expires_at }} まで、お一人様1回限り）をご利用ください。"
            "\n{{ shop.url }}" + SIGNATURE_JA,
            "【{{ shop.name }}】クーポン {{ code.code }}（72時間有効）{{ shop.url }}",
        ),
        k.WELCOME: Wording(
            "【{{ shop.name }}】会員登録ありがとうございます",
            "{{ customer.name|default:'お客' }} 様\n\nご入会ありがとうございます。"
            "{% if code %}ウェルカムクーポン {{ code.code }} は {{ code.expires_at }} までご利用いただけます。{% endif %}"
            "{% if recommendations %}\n\nおすすめの商品：{% for p in recommendations %}\n・{{ p.name }}（{{ p.price }}）{% endfor %}{% endif %}"
            + SIGNATURE_JA,
            "【{{ shop.name }}】ご入会ありがとうございます。{% if code %}クーポン {{ code.code }}{% endif %}",
        ),
        k.BACK_IN_STOCK: Wording(
            "【{{ shop.name }}】{{ product.name }} が再入荷しました",
            "お待たせいたしました。{{ product.name }} が再入荷しました。\n{{ shop.url }}"
            + SIGNATURE_JA,
            "【{{ shop.name }}】{{ product.name }} が再入荷しました。{{ shop.url }}",
        ),
        k.CAMPAIGN: Wording(
            "【{{ shop.name }}】お知らせ",
            "{{ customer.name|default:'お客' }} 様\n\n{{ text }}" + SIGNATURE_JA,
            "【{{ shop.name }}】{{ text }}",
        ),
    }
)

HTML_LAYOUT = """<!doctype html>
<html lang="{{ customer.language }}"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family: sans-serif; line-height: 1.6; color: #222; max-width: 40em; margin: auto">
<div>{{ body|urlize|linebreaksbr }}</div>
{% if unsubscribe_url %}<p style="font-size: small; color: #666"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>{% endif %}
</body></html>"""


def wording(kind: str, language: str) -> Wording | None:
    table = JA if language == "ja" else EN
    return table.get(kind) or EN.get(kind)
