import numpy as np, warnings, torch
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
from robustsk.datasets import load_digits_images
from robustsk.base import RobustClassifier
from robustsk.poisoning import feature_collision, poisoning_report
X, y = load_digits_images(return_X_y=True)
clf = RobustClassifier(max_epochs=3, random_state=0, clip_min=0, clip_max=1).fit(X[:400], y[:400])
ys=np.array(list('abcdefghij'))[y]
r=feature_collision(clf, X[700], X[:400][y[:400]==3][:2], base_label='dd', n_iter=5, X_train=X[:400], y_train=ys[:400])
print('base_label not a label -> y appended:', r.y[-2:], 'base_label', r.base_label)
r=feature_collision(clf, X[700], X[:400][y[:400]==3][:2], base_label=3, n_iter=5, X_train=X[:400], y_train=y[:400].astype(float))
print(r.y.dtype, r.y[-2:])
