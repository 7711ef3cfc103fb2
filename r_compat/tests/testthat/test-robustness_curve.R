beetles <- function() {
  # Bliss (1935) beetle mortality, as in Dobson & Barnett (2008, Section 7.3).
  dose <- c(1.6907, 1.7242, 1.7552, 1.7842, 1.8113, 1.8369, 1.8610, 1.8839)
  n <- c(59, 60, 62, 56, 63, 59, 62, 60)
  killed <- c(6, 13, 18, 28, 52, 53, 61, 60)
  data.frame(example_id = seq_len(sum(n)), eps = rep(dose, n), attack = "cs2",
             correct = unlist(Map(function(k, m) rep(c(FALSE, TRUE), c(k, m - k)), killed, n)))
}

test_that("beetle mortality: survival logit = 60.72 - 34.27 dose (SE 5.18, 2.91)", {
  r <- robustness_curve(beetles(), cov_type = "nonrobust")
  expect_equal(round(unname(r$coefficients), 2), c(60.72, -34.27))
  expect_equal(round(sqrt(diag(r$cov)), 2), c(5.18, 2.91), ignore_attr = TRUE)
})

test_that("cluster-robust bands match glm + sandwich::vcovCL", {
  set.seed(4)
  d <- expand.grid(example_id = 1:30, eps = c(0, 0.1, 0.2, 0.3), defense = c("a", "b"),
                   stringsAsFactors = FALSE)
  d$attack <- "pgd"
  u <- rnorm(30)[d$example_id]
  d$correct <- runif(nrow(d)) < plogis(2 + u - ifelse(d$defense == "a", 20, 10) * d$eps)
  r <- robustness_curve(d, grid = c(0, 0.15, 0.3))
  fit <- glm(correct ~ defense * eps, family = binomial(), data = d,
             control = glm.control(epsilon = 1e-12))
  fit <- glm(correct ~ defense * eps, family = binomial(), data = d,
             control = glm.control(epsilon = 1e-12), start = coef(fit))
  v <- sandwich::vcovCL(fit, cluster = d$example_id, type = "HC1", cadjust = TRUE)
  nd <- data.frame(defense = rep(c("a", "b"), each = 3), eps = rep(c(0, 0.15, 0.3), 2))
  x <- model.matrix(~ defense * eps, nd)
  eta <- drop(x %*% coef(fit))
  se <- sqrt(rowSums((x %*% v) * x))
  expect_equal(r$curve$fitted, plogis(eta), tolerance = 1e-8, ignore_attr = TRUE)
  expect_equal(r$curve$low, plogis(eta - qnorm(0.975) * se), tolerance = 1e-8, ignore_attr = TRUE)
  expect_equal(r$curve$high, plogis(eta + qnorm(0.975) * se), tolerance = 1e-8, ignore_attr = TRUE)
  expect_false(r$separation)
})

test_that("separation is detected, raised or reported", {
  d <- data.frame(example_id = rep(1:10, 3), eps = rep(c(0, 0.1, 0.2), each = 10),
                  attack = "pgd", correct = rep(c(TRUE, TRUE, FALSE), each = 10))
  expect_error(robustness_curve(d), class = "robustsk_separation_error")
  d$correct[11] <- FALSE  # quasi-complete: failures touch the survivors at eps = 0.1
  expect_error(robustness_curve(d), class = "robustsk_separation_error")
  expect_warning(r <- robustness_curve(d, on_separation = "warn", grid = c(0, 0.1, 0.2)),
                 class = "robustsk_separation_warning")
  expect_true(r$separation)
  expect_equal(r$curve$fitted, c(1, 0.9, 0))
  expect_true(all(is.nan(r$curve$low)))
  d$correct[1] <- FALSE  # a failure at eps = 0 removes the separation
  expect_false(robustness_curve(d)$separation)
})

test_that("bad frames give clear errors", {
  d <- data.frame(example_id = 1:4, eps = c(0, 0, 0.1, 0.1), attack = "pgd", correct = c(1, 0, 1, 0))
  expect_error(robustness_curve(d[, -2]), "lacks")
  expect_error(robustness_curve(d[d$eps == 0, ]), "at least two")
  d$attack <- c("a", "b", "a", "b")
  expect_error(robustness_curve(d), "attacks")
})

test_that("the reference defense is the first in code point order, as in Python, whatever the locale", {
  set.seed(0)
  eps <- c(0, 0.05, 0.1, 0.2)
  d <- do.call(rbind, lapply(c("madry", "TRADES"), function(def) do.call(rbind, lapply(eps, function(e)
    data.frame(example_id = 1:60, eps = e, attack = "pgd", defense = def,
               correct = runif(60) < plogis(2 - (if (def == "madry") 15 else 25) * e))))))
  with_locale_collation({
    r <- robustness_curve(d)
    expect_equal(names(r$coefficients), c("intercept", "eps", "defense[T.madry]", "eps:defense[T.madry]"))
    expect_equal(unique(r$curve$defense), c("TRADES", "madry"))
    expect_equal(unique(r$observed$defense), c("TRADES", "madry"))
  })
})

test_that("a negative eps is refused, as in Python", {
  d <- data.frame(example_id = rep(1:4, 2), eps = rep(c(-0.1, 0.1), each = 4), attack = "pgd",
                  correct = c(TRUE, FALSE, TRUE, TRUE, FALSE, TRUE, FALSE, FALSE))
  expect_error(robustness_curve(d), "eps holds -0.1: expected radii, finite numbers >= 0")
})

test_that("eps read as text or a factor (read.csv, expand.grid) fits as numbers", {
  set.seed(3)
  d <- do.call(rbind, lapply(c(0, 0.1, 0.2, 0.3), function(e)
    data.frame(example_id = 1:40, eps = e, attack = "pgd",
               correct = runif(40) < plogis(2 - 12 * e))))
  ref <- robustness_curve(d)
  for (as_text in list(as.character, factor)) {
    d2 <- d
    d2$eps <- as_text(d$eps)
    r <- robustness_curve(d2)  # failed: "'max' not meaningful for factors"
    expect_equal(r$coefficients, ref$coefficients)
  }
})
