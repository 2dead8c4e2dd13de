"""Palette and style: Fusion everywhere, light or dark following the desktop (or the user's choice).

Widgets draw with palette roles (never fixed colours), so one stylesheet serves both schemes;
the few accent colours the app adds (score bars, warnings) come from `accent()` and `warn_colors()`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLabel

ACCENT_LIGHT = QColor("#3f6ae0")
ACCENT_DARK = QColor("#7b9cff")

_STYLESHEET = """
QWidget#SearchHeader { background: palette(window); }
QLineEdit#SearchField {
    border: 1px solid palette(mid);
    border-radius: 8px;
    padding: 6px 10px;
    background: palette(base);
    selection-background-color: palette(highlight);
    font-size: %(search_pt)spt;
}
QLineEdit#SearchField:focus { border: 2px solid palette(highlight); padding: 5px 9px; }
QToolButton#ModalityButton {
    border: 1px solid palette(mid);
    border-radius: 6px;
    padding: 4px 10px;
    background: palette(button);
}
QToolButton#ModalityButton:checked {
    background: palette(highlight);
    color: palette(highlighted-text);
    border-color: palette(highlight);
}
QToolButton#SortLeft, QToolButton#SortRight {
    border: 1px solid palette(mid);
    padding: 4px 10px;
    background: palette(button);
}
QToolButton#SortLeft { border-top-left-radius: 6px; border-bottom-left-radius: 6px; border-right: none; }
QToolButton#SortRight { border-top-right-radius: 6px; border-bottom-right-radius: 6px; }
QToolButton#SortLeft:checked, QToolButton#SortRight:checked {
    background: palette(highlight);
    color: palette(highlighted-text);
    border-color: palette(highlight);
}
QFrame#SearchOptions {
    background: palette(window);
    border: 1px solid palette(mid);
    border-radius: 10px;
}
QLabel#PanelTitle { font-size: %(detail_pt)spt; font-weight: 600; }
QLabel#WeightName { font-weight: 600; }
QLabel#WeightValue { font-weight: 600; }
QLabel#RelevanceTotal { font-size: %(detail_pt)spt; font-weight: 600; }
QLabel#ComponentValue { font-weight: 600; }
QLabel#StrongTag {
    border-radius: 8px; padding: 1px 8px; font-weight: 600;
    background: palette(highlight); color: palette(highlighted-text);
}
QLabel#StrongTag[weak="true"] { background: palette(midlight); color: palette(window-text); }
QLabel#SectionTitle { font-weight: 600; color: palette(window-text); }
QLabel#Muted, QLabel#ResultCount, QLabel#AlsoHeard { color: palette(placeholder-text); }
QLabel#EmptyTitle { font-size: %(title_pt)spt; font-weight: 600; }
QLabel#EmptyBody { color: palette(placeholder-text); }
QLabel#DetailTitle { font-size: %(detail_pt)spt; font-weight: 600; }
QLabel#CountValue { font-size: %(detail_pt)spt; font-weight: 600; }
QLabel#CountLabel { color: palette(placeholder-text); }
QFrame#Sidebar, QFrame#DetailPane { background: palette(window); }
QFrame#Card { border: 1px solid palette(midlight); border-radius: 8px; background: palette(base); }
QFrame#Notice { border-radius: 8px; }
QFrame#StatusWarning { border-radius: 4px; }
QPushButton#Primary {
    background: palette(highlight); color: palette(highlighted-text);
    border: none; border-radius: 6px; padding: 7px 16px; font-weight: 600;
}
QPushButton#Primary:hover { background: palette(link); }
QPushButton#LinkChip {
    border: 1px solid palette(mid); border-radius: 11px; padding: 3px 10px;
    background: palette(base); color: palette(link);
}
QPushButton#LinkChip:hover { border-color: palette(highlight); }
QListView#ResultsView { border: none; background: palette(base); }
QListWidget#FolderList, QTreeWidget#SkippedList {
    border: 1px solid palette(midlight); border-radius: 6px; background: palette(base);
}
QProgressBar#IndexProgress {
    border: none; border-radius: 3px; background: palette(midlight); max-height: 6px;
}
QProgressBar#IndexProgress::chunk { border-radius: 3px; background: palette(highlight); }
QProgressBar#ModelProgress { max-height: 10px; max-width: 120px; }
QSplitter::handle { background: palette(midlight); }
"""


def _dark_palette() -> QPalette:
    p = QPalette()
    c = QColor
    window, base, alt, text = c("#202124"), c("#17181a"), c("#26282b"), c("#e8eaed")
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, alt)
    p.setColor(QPalette.ColorRole.ToolTipBase, c("#303134"))
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.PlaceholderText, c("#9aa0a6"))
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, c("#2d2f33"))
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, c("#ff6b6b"))
    p.setColor(QPalette.ColorRole.Light, c("#3c4043"))
    p.setColor(QPalette.ColorRole.Midlight, c("#34363a"))
    p.setColor(QPalette.ColorRole.Mid, c("#4a4d52"))
    p.setColor(QPalette.ColorRole.Dark, c("#111214"))
    p.setColor(QPalette.ColorRole.Shadow, c("#000000"))
    p.setColor(QPalette.ColorRole.Highlight, ACCENT_DARK.darker(135))
    p.setColor(QPalette.ColorRole.HighlightedText, c("#ffffff"))
    p.setColor(QPalette.ColorRole.Link, ACCENT_DARK)
    p.setColor(QPalette.ColorRole.LinkVisited, c("#c58af9"))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, c("#6f7378"))
    return p


def _light_palette() -> QPalette:
    p = QPalette()
    c = QColor
    p.setColor(QPalette.ColorRole.Window, c("#f3f4f6"))
    p.setColor(QPalette.ColorRole.WindowText, c("#1f2328"))
    p.setColor(QPalette.ColorRole.Base, c("#ffffff"))
    p.setColor(QPalette.ColorRole.AlternateBase, c("#f6f8fa"))
    p.setColor(QPalette.ColorRole.ToolTipBase, c("#ffffff"))
    p.setColor(QPalette.ColorRole.ToolTipText, c("#1f2328"))
    p.setColor(QPalette.ColorRole.PlaceholderText, c("#6e7781"))
    p.setColor(QPalette.ColorRole.Text, c("#1f2328"))
    p.setColor(QPalette.ColorRole.Button, c("#ffffff"))
    p.setColor(QPalette.ColorRole.ButtonText, c("#1f2328"))
    p.setColor(QPalette.ColorRole.BrightText, c("#cf222e"))
    p.setColor(QPalette.ColorRole.Light, c("#ffffff"))
    p.setColor(QPalette.ColorRole.Midlight, c("#e3e6ea"))
    p.setColor(QPalette.ColorRole.Mid, c("#c9ced4"))
    p.setColor(QPalette.ColorRole.Dark, c("#8c959f"))
    p.setColor(QPalette.ColorRole.Shadow, c("#57606a"))
    p.setColor(QPalette.ColorRole.Highlight, ACCENT_LIGHT)
    p.setColor(QPalette.ColorRole.HighlightedText, c("#ffffff"))
    p.setColor(QPalette.ColorRole.Link, ACCENT_LIGHT.darker(115))
    p.setColor(QPalette.ColorRole.LinkVisited, c("#8250df"))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, c("#a0a7b0"))
    return p


def system_prefers_dark() -> bool:
    app = QGuiApplication.instance()
    if app is None:
        return False
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether a palette (default: the application's) is a dark one, judged by its window colour."""
    if palette is None:
        app = QGuiApplication.instance()
        palette = app.palette() if app is not None else QPalette()
    return palette.color(QPalette.ColorRole.Window).lightnessF() < 0.5


def accent() -> QColor:
    return ACCENT_DARK if is_dark() else ACCENT_LIGHT


def warn_colors() -> tuple[QColor, QColor]:
    """Background and text colour for a warning strip in the current scheme."""
    if is_dark():
        return QColor("#4a3b12"), QColor("#ffd97a")
    return QColor("#fff4d6"), QColor("#7a5200")


def error_colors() -> tuple[QColor, QColor]:
    if is_dark():
        return QColor("#4d1f22"), QColor("#ffb4ab")
    return QColor("#fde7e9"), QColor("#8c1d18")


def info_colors() -> tuple[QColor, QColor]:
    if is_dark():
        return QColor("#1d3150"), QColor("#c2dcff")
    return QColor("#e7f0ff"), QColor("#1d3f7a")


def apply_theme(app: QApplication, theme: str = "system") -> None:
    """Fusion style with a light or dark palette; "system" follows the desktop's colour scheme."""
    app.setStyle("Fusion")
    dark = system_prefers_dark() if theme == "system" else theme == "dark"
    app.setPalette(_dark_palette() if dark else _light_palette())
    base_pt = app.font().pointSizeF()
    if base_pt <= 0:
        base_pt = 10.0
    app.setStyleSheet(
        _STYLESHEET
        % {
            "search_pt": round(base_pt * 1.25, 1),
            "title_pt": round(base_pt * 1.55, 1),
            "detail_pt": round(base_pt * 1.3, 1),
        }
    )


def section_title(text: str) -> QLabel:
    """A small caps-style section title, as the detail pane's "WHY IT MATCHED"."""
    title = QLabel(text.upper())
    title.setObjectName("SectionTitle")
    f = title.font()
    f.setPointSizeF(max(7.0, f.pointSizeF() * 0.85))
    f.setLetterSpacing(f.SpacingType.PercentageSpacing, 108)
    title.setFont(f)
    return title
