# The review's R experiment (R/review.R). The Python twin and the exact
# R-Python agreement are tested in tests/stats/test_review.py (through rpy2).

.extdata <- file.path("..", "..", "inst", "extdata")
skip_without_data <- function() {
  skip_if_not(file.exists(file.path(.extdata, "digits01.csv")), "needs inst/extdata (source tree)")
}

test_that("the stand-in data: digits 0 vs 1, labels -1/+1, pixels 0-255 in steps of 255/16", {
  skip_without_data()
  d <- review_digits01(file.path(.extdata, "digits01.csv"))
  expect_equal(dim(d$x_train), c(216L, 64L))
  expect_equal(dim(d$x_test), c(144L, 64L))
  expect_setequal(unique(d$y_train), c(-1, 1))
  expect_equal(range(c(d$x_train, d$x_test)), c(0, 255))
  levels16 <- c(d$x_train) * 16 / 255
  expect_equal(levels16, round(levels16))
})

test_that("the coordinate descent reaches the optimality conditions of the L1 problem", {
  skip_without_data()
  d <- review_digits01(file.path(.extdata, "digits01.csv"))
  fit <- review_fit_l1_logistic(d$x_train, d$y_train, cost = 0.5)
  expect_true(fit$converged)
  expect_lt(fit$violation, 1e-4)
  w <- fit$w
  # KKT: |grad_j| <= 1 where w_j == 0, grad_j == -sign(w_j) elsewhere.
  m <- d$y_train * drop(d$x_train %*% w)
  grad <- -0.5 * drop(crossprod(d$x_train, d$y_train / (1 + exp(m))))
  expect_true(all(abs(grad[w == 0]) <= 1 + 1e-4))
  expect_equal(unname(grad[w != 0]), -sign(w[w != 0]), tolerance = 1e-4)
  # A worse objective anywhere nearby.
  f <- function(v) sum(abs(v)) + 0.5 * sum(log1p(exp(-d$y_train * drop(d$x_train %*% v))))
  set.seed(1)
  for (k in 1:5) expect_gt(f(w + rnorm(64, sd = 1e-3)), fit$objective)
  expect_equal(f(w), fit$objective, tolerance = 1e-12)
  # The committed weights are these.
  committed <- utils::read.csv(file.path(.extdata, "review_r_weights.csv"))
  expect_equal(committed$w, w, tolerance = 1e-12)
})

test_that("PGD lands on the corner x - eps * y * sign(w) and never clips", {
  w <- c(0.5, -0.25, 0, 1)
  x <- rbind(c(0, 255, 10, 3), c(100, 0, 0, 0))
  y <- c(1, -1)
  adv <- review_pgd(w, x, y, eps = 8, step = 1, n_iter = 40)
  expect_identical(adv, x - 8 * outer(y, sign(w)))
  expect_true(any(adv < 0) && any(adv > 255))
  one <- review_pgd(w, x, y, eps = 8, step = 1, n_iter = 1)  # FGSM-like single step
  expect_identical(one, x - outer(y, sign(w)))
  expect_identical(review_pgd(w, x, y, n_iter = 0), x)
})

test_that("the review's gradient is exactly zero once exp(y w'x) overflows", {
  g <- review_gradient(c(1, -2), rbind(c(800, 0), c(1, 0)), c(1, 1))
  expect_true(all(g[1, ] == 0))
  expect_true(all(g[2, ] != 0))
  expect_equal(g[2, ], -1 / (1 + exp(1)) * c(1, -2))
})

test_that("the sign of w is checked against decision values", {
  x <- rbind(c(1, 2), c(3, -1), c(-2, 0))
  w <- c(0.3, -0.1)
  expect_true(review_check_sign(w, x, drop(x %*% w) * 2))
  expect_error(review_check_sign(-w, x, drop(x %*% w)), "Use -w")
})

test_that("the experiment: robust accuracy over all and over clean-correct points", {
  skip_without_data()
  d <- review_digits01(file.path(.extdata, "digits01.csv"))
  w <- utils::read.csv(file.path(.extdata, "review_r_weights.csv"))$w
  golden <- utils::read.csv(file.path(.extdata, "review_r_output.csv"))
  for (i in seq_len(nrow(golden))) {
    r <- review_experiment(d, w = w, eps = golden$eps[i])
    expect_s3_class(r, "robustsk_review")
    expect_equal(r$robust$successes, golden$robust_successes[i])
    expect_equal(r$robust_conditional$n, golden$n_clean_correct[i])
    expect_equal(r$clean_accuracy, golden$clean_accuracy[i])
    expect_false(any(r$adv_correct & !r$clean_correct))
  }
  r8 <- review_experiment(d)  # fits w itself
  expect_equal(r8$solver, "cd")
  expect_equal(r8$w, w, tolerance = 1e-10)
  expect_output(print(r8), "robust accuracy 1.0000 \\(144/144\\)")
  # Robust accuracy falls as eps grows.
  expect_true(all(diff(golden$robust_accuracy) <= 0))
})
