test_that("paired_correct orders levels and example_ids by code point, as Python, whatever the locale", {
  d <- data.frame(example_id = rep(c("b", "A", "a"), 2), eps = 0.1, attack = "pgd",
                  defense = rep(c("madry", "TRADES"), each = 3),
                  correct = c(TRUE, FALSE, TRUE, FALSE, FALSE, TRUE))
  with_locale_collation({
    w <- paired_correct(d)
    expect_equal(colnames(w), c("TRADES", "madry"))
    expect_equal(rownames(w), c("A", "a", "b"))
    expect_equal(w$madry, c(FALSE, TRUE, TRUE))
  })
})

test_that("a tidy frame with a negative, infinite or non-numeric eps is refused", {
  d <- data.frame(example_id = rep(1:2, 2), eps = c(-0.1, -0.1, 0.1, 0.1), attack = "pgd",
                  correct = c(TRUE, FALSE, TRUE, TRUE))
  expect_error(paired_correct(d, by = "eps"), "data\\$eps holds -0.1: expected radii, finite numbers >= 0")
  d$eps[1:2] <- Inf
  expect_error(paired_correct(d, by = "eps"), "holds Inf")
  d$eps <- c("a", "a", "0.1", "0.1")
  expect_error(paired_correct(d, by = "eps"), "holds a")
})
